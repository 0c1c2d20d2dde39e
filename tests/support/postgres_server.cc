#include "support/postgres_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/fs.h"
#include "core/process.h"

namespace fogkeep::testing {
namespace {

constexpr auto kStartTimeout = std::chrono::seconds(60);
constexpr auto kStopTimeout = std::chrono::seconds(30);
constexpr int kPortAttempts = 5;

bool IsExecutable(const std::string& path) { return ::access(path.c_str(), X_OK) == 0; }

bool HoldsServer(const std::string& bindir) {
  return !bindir.empty() && IsExecutable(bindir + "/initdb") && IsExecutable(bindir + "/postgres");
}

std::string RunuserPath() {
  for (const char* path : {"/usr/sbin/runuser", "/sbin/runuser"}) {
    if (IsExecutable(path)) return path;
  }
  return "";
}

// A port that was free on loopback a moment ago, or 0.
std::uint16_t FreeLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof(address);
  std::uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) == 0) {
    port = ntohs(address.sin_port);
  }
  ::close(fd);
  return port;
}

// The last `max` bytes of a file, for error messages.
std::string Tail(const std::string& path, std::size_t max = 3000) {
  auto text = fs::ReadFile(path, 16 << 20);
  if (!text) return "(no log)";
  return text->size() > max ? "..." + text->substr(text->size() - max) : *text;
}

// fork + exec of `argv` with stdin on /dev/null, stdout and stderr on `log_fd` and no other
// descriptors. The child gets SIGTERM when the thread that started it ends (PR_SET_PDEATHSIG):
// runuser passes it on to postgres, and postgres answers it by shutting down once its clients,
// which died with the test process, are gone. So a test binary that aborts leaves no server.
Result<pid_t> SpawnTiedToThisThread(const std::vector<std::string>& argv,
                                    const std::vector<std::string>& env, int log_fd) {
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  std::vector<char*> envp;
  for (const std::string& entry : env) envp.push_back(const_cast<char*>(entry.c_str()));
  envp.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return FailErrno("fork", errno);
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(127);  // the parent died before prctl
    int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null < 0) ::_exit(127);
    ::dup2(null, 0);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    ::close_range(3, ~0U, 0);
    ::execve(args[0], args.data(), envp.data());
    ::_exit(127);
  }
  return pid;
}

// The postmaster's pid from the first line of data/postmaster.pid, or 0.
pid_t ReadPostmasterPid(const std::string& data_dir) {
  auto text = fs::ReadFile(data_dir + "/postmaster.pid", 4096);
  if (!text) return 0;
  return static_cast<pid_t>(std::atol(text->c_str()));
}

// Waits up to `timeout` for the child `pid` to end; true when it has been reaped.
bool WaitFor(pid_t pid, std::chrono::steady_clock::duration timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto ended = process::TryWait(pid);
    if (!ended || *ended) return true;  // reaped, or not ours to wait for any more
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

}  // namespace

std::string PostgresServer::FindBinDir() {
  if (const char* dir = std::getenv("FOGKEEP_POSTGRES_BINDIR"); dir != nullptr) {
    return HoldsServer(dir) ? dir : "";
  }
  if (HoldsServer("/usr/lib/postgresql/15/bin")) return "/usr/lib/postgresql/15/bin";
  int newest = -1;
  for (const std::string& name : fs::ListDir("/usr/lib/postgresql")) {
    char* end = nullptr;
    long version = std::strtol(name.c_str(), &end, 10);
    if (end != name.c_str() && *end == '\0' && version > newest &&
        HoldsServer("/usr/lib/postgresql/" + name + "/bin")) {
      newest = static_cast<int>(version);
    }
  }
  if (newest >= 0) return "/usr/lib/postgresql/" + std::to_string(newest) + "/bin";
  for (const char* pg_config : {"/usr/bin/pg_config", "/usr/local/bin/pg_config"}) {
    if (!IsExecutable(pg_config)) continue;
    process::SpawnOptions options;
    options.argv = {pg_config, "--bindir"};
    options.env = process::MinimalEnvironment();
    options.stdout_fd = process::kCapture;
    auto ran = process::Run(options, {.timeout = std::chrono::seconds(10)});
    if (!ran || !ran->status.success()) continue;
    std::string dir = ran->out;
    while (!dir.empty() && (dir.back() == '\n' || dir.back() == ' ')) dir.pop_back();
    if (HoldsServer(dir)) return dir;
  }
  return "";
}

Result<std::unique_ptr<PostgresServer>> PostgresServer::Start() {
  const std::string bindir = FindBinDir();
  if (bindir.empty()) {
    return Fail(ErrorCode::kUnavailable,
                "PostgreSQL server programs (initdb, postgres) not found in "
                "$FOGKEEP_POSTGRES_BINDIR, /usr/lib/postgresql/*/bin or `pg_config --bindir`: "
                "install Debian's postgresql package (scripts/setup-debian.sh)");
  }
  // As root, the server runs as the `postgres` user; otherwise as whoever runs the test.
  std::vector<std::string> as_server_user;
  const bool root = ::geteuid() == 0;
  const passwd* server_user = nullptr;
  if (root) {
    const std::string runuser = RunuserPath();
    server_user = ::getpwnam("postgres");
    if (runuser.empty() || server_user == nullptr) {
      return Fail(
          ErrorCode::kUnavailable,
          "running as root, PostgreSQL must run as the `postgres` user through runuser, "
          "and " +
              std::string(runuser.empty() ? "runuser is missing" : "there is no such user") +
              " (scripts/setup-debian.sh installs postgresql, which creates it)");
    }
    as_server_user = {runuser, "-u", "postgres", "--"};
  }

  const std::string dir = FK_TRY(fs::MakeTempDir(::testing::TempDir(), "fogkeep-pg-"));
  // From here on the directory is removed on every failure.
  auto fail = [&](Error error) -> Result<std::unique_ptr<PostgresServer>> {
    (void)fs::RemoveTree(dir);
    return Fail(std::move(error).With("start PostgreSQL in " + dir));
  };
  if (root && ::chown(dir.c_str(), server_user->pw_uid, server_user->pw_gid) != 0) {
    return fail(Error(ErrorCode::kUnavailable, ErrnoMessage("chown to postgres", errno)));
  }
  const std::string data = dir + "/data";
  const std::string log = dir + "/postgres.log";

  process::SpawnOptions initdb;
  initdb.argv = as_server_user;
  initdb.argv.insert(initdb.argv.end(), {bindir + "/initdb", "-D", data, "-A", "trust", "-U",
                                         "fogkeep", "-E", "UTF8", "--locale=C", "--no-sync"});
  initdb.env = process::MinimalEnvironment();
  initdb.stdout_fd = process::kCapture;
  initdb.stderr_fd = process::kCapture;
  auto initialised = process::Run(initdb, {.timeout = std::chrono::seconds(120)});
  if (!initialised) return fail(std::move(initialised).error().With("initdb"));
  if (!initialised->status.success()) {
    return fail(Error(ErrorCode::kUnavailable, "initdb " + initialised->status.Describe() + ": " +
                                                   initialised->err + initialised->out));
  }

  std::string last_error;
  for (int attempt = 0; attempt < kPortAttempts; ++attempt) {
    const std::uint16_t port = FreeLoopbackPort();
    if (port == 0) return fail(Error(ErrorCode::kUnavailable, "no free loopback port"));
    // Each attempt starts a fresh log, so that its end tells why this attempt failed.
    int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (log_fd < 0) return fail(Error(ErrorCode::kUnavailable, ErrnoMessage(log, errno)));
    std::vector<std::string> argv = as_server_user;
    argv.insert(argv.end(), {bindir + "/postgres", "-D", data, "-k", dir, "-p",
                             std::to_string(port), "-c", "listen_addresses=127.0.0.1",
                             // Tests only: a crash of the machine may lose this throwaway
                             // cluster, and without fsync each CREATE DATABASE and COMMIT
                             // costs far less.
                             "-c", "fsync=off"});
    std::vector<std::string> env = process::MinimalEnvironment();
    env.push_back("LC_ALL=C");
    auto pid = SpawnTiedToThisThread(argv, env, log_fd);
    ::close(log_fd);
    if (!pid) return fail(std::move(pid).error().With("spawn postgres"));
    std::unique_ptr<PostgresServer> server(new PostgresServer(dir, *pid, port));

    const std::string conninfo = server->ConnInfo("postgres");
    const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
    bool exited = false;
    while (std::chrono::steady_clock::now() < deadline) {
      if (PQping(conninfo.c_str()) == PQPING_OK) return server;
      auto ended = process::TryWait(*pid);
      if (!ended || *ended) {
        exited = true;
        server->pid_ = -1;  // reaped
        last_error = "postgres exited (" + (ended ? (*ended)->Describe() : "not waitable") +
                     "); its log: " + Tail(log);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (!exited) {
      last_error = "postgres did not accept connections within " +
                   std::to_string(kStartTimeout.count()) + " s; its log: " + Tail(log);
      server->Stop();
      server->dir_.clear();  // removed by fail() below
      return fail(Error(ErrorCode::kUnavailable, last_error));
    }
    server->dir_.clear();  // keep the directory for the next attempt
    // Another process may have taken the port between the probe and postgres' bind; any other
    // failure would only repeat.
    const std::string why = Tail(log);
    if (why.find("could not bind") == std::string::npos &&
        why.find("could not create any TCP/IP sockets") == std::string::npos) {
      break;
    }
  }
  return fail(Error(ErrorCode::kUnavailable, last_error));
}

Result<PostgresServer*> PostgresServer::Shared() {
  static Result<std::unique_ptr<PostgresServer>> server = Start();
  if (!server) return Fail(server.error());
  return server->get();
}

PostgresServer::~PostgresServer() {
  Stop();
  if (!dir_.empty()) (void)fs::RemoveTree(dir_);
}

void PostgresServer::Stop() {
  if (pid_ <= 0) return;
  // SIGINT asks the postmaster for a fast shutdown: it closes every connection and stops. Sent to
  // the postmaster itself, since runuser (our child when root) would pass on SIGTERM, which
  // waits for clients to leave.
  const pid_t postmaster = dir_.empty() ? 0 : ReadPostmasterPid(dir_ + "/data");
  ::kill(postmaster > 0 ? postmaster : pid_, postmaster > 0 ? SIGINT : SIGTERM);
  if (!WaitFor(pid_, kStopTimeout)) {
    if (postmaster > 0) ::kill(postmaster, SIGKILL);
    ::kill(pid_, SIGKILL);
    (void)process::Wait(pid_);
  }
  pid_ = -1;
}

std::string PostgresServer::ConnInfo(const std::string& database) const {
  return "host=127.0.0.1 port=" + std::to_string(port_) + " user=fogkeep dbname=" + database +
         " connect_timeout=10";
}

Result<std::string> PostgresServer::CreateDatabase() {
  const std::string name = "fogkeep_test_" + std::to_string(++databases_);
  FK_TRY(Execute("postgres", "CREATE DATABASE " + name));
  return name;
}

Status PostgresServer::DropDatabase(const std::string& name) {
  return Execute("postgres", "DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
}

Status PostgresServer::Execute(const std::string& database, const std::string& sql) {
  PGconn* conn = PQconnectdb(ConnInfo(database).c_str());
  std::string error;
  if (PQstatus(conn) != CONNECTION_OK) {
    error = std::string("connect: ") + PQerrorMessage(conn);
  } else {
    PGresult* result = PQexec(conn, sql.c_str());
    const ExecStatusType status = PQresultStatus(result);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      error = PQresultErrorMessage(result);
    }
    PQclear(result);
  }
  PQfinish(conn);
  if (!error.empty()) {
    return Fail(ErrorCode::kUnavailable, "PostgreSQL " + database + ": " + sql + ": " + error);
  }
  return {};
}

}  // namespace fogkeep::testing
