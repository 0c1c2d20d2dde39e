// A throwaway PostgreSQL server for tests of code that talks to PostgreSQL.
//
// PostgresServer::Start() runs initdb in a fresh temporary directory and starts `postgres` on a
// free loopback port, with trust authentication for the superuser "fogkeep" and its Unix
// socket in the same directory; it returns once the server accepts connections. PostgreSQL
// refuses to run as root, so a root test process runs initdb and postgres as the `postgres`
// system user (runuser) in a directory chowned to it. Each test takes a fresh database
// (CreateDatabase), so tests stay independent while sharing one server. The destructor stops
// the server (fast shutdown, SIGKILL if it lingers) and removes the directory; should the test
// process die first, the server shuts itself down too.
//
// Missing binaries are an error, never a skip: scripts/setup-debian.sh installs them.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "core/error.h"

namespace fogkeep::testing {

class PostgresServer {
 public:
  // The directory holding initdb and postgres: $FOGKEEP_POSTGRES_BINDIR, else
  // /usr/lib/postgresql/15/bin, else the newest /usr/lib/postgresql/<version>/bin, else
  // `pg_config --bindir`. "" when none holds both programs.
  static std::string FindBinDir();

  // Starts a new server. kUnavailable says what is missing or how the start failed (with the
  // end of the server's log).
  static Result<std::unique_ptr<PostgresServer>> Start();

  // The server every test of this binary shares: started by the first call, stopped when the
  // binary exits. The first call must come from the main thread: the server is tied to the
  // thread that starts it (it shuts down when that thread's process is gone).
  static Result<PostgresServer*> Shared();

  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  std::uint16_t port() const { return port_; }
  // A libpq connection string for `database` as the superuser, over TCP on loopback.
  std::string ConnInfo(const std::string& database) const;

  // Creates an empty database with a name no other call returned, and returns the name.
  Result<std::string> CreateDatabase();
  // Drops a database, closing the connections still open to it.
  Status DropDatabase(const std::string& name);
  // Runs `sql` (one or more statements, results discarded) as the superuser in `database`.
  Status Execute(const std::string& database, const std::string& sql);

 private:
  PostgresServer(std::string dir, pid_t pid, std::uint16_t port)
      : dir_(std::move(dir)), pid_(pid), port_(port) {}
  void Stop();

  std::string dir_;  // the temporary directory: data/, the socket, postgres.log
  pid_t pid_;        // our child: runuser (as root) or postgres itself
  std::uint16_t port_;
  std::atomic<int> databases_{0};
};

}  // namespace fogkeep::testing
