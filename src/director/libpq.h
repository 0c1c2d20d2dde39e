// libpq, loaded when the first PostgreSQL store is opened rather than when the director starts.
// Linked, it brings some twenty shared libraries into every director (GnuTLS, Kerberos,
// OpenLDAP and a second OpenSSL among them), about 5 MiB resident, while the embedded default,
// SQLite, never calls it. Only sql_db_postgres.cc uses this.
#pragma once

#include <libpq-fe.h>

#include "core/error.h"

namespace fogkeep::director::libpq {

// The libpq calls the PostgreSQL store makes, each with libpq-fe.h's own signature.
// clang-format off
#define FOGKEEP_LIBPQ_FUNCTIONS(X)                                                     \
  X(PQclear) X(PQcmdStatus) X(PQcmdTuples) X(PQconnectdb) X(PQconninfoFree)           \
  X(PQconninfoParse) X(PQerrorMessage) X(PQexec) X(PQexecParams) X(PQfinish)          \
  X(PQfname) X(PQfreemem) X(PQftype) X(PQgetisnull) X(PQgetlength) X(PQgetvalue)      \
  X(PQntuples) X(PQresultErrorField) X(PQresultStatus) X(PQsetClientEncoding)         \
  X(PQsetNoticeProcessor) X(PQstatus) X(PQtransactionStatus) X(PQunescapeBytea)
// clang-format on

struct Functions {
#define FOGKEEP_LIBPQ_POINTER(name) decltype(&::name) name = nullptr;
  FOGKEEP_LIBPQ_FUNCTIONS(FOGKEEP_LIBPQ_POINTER)
#undef FOGKEEP_LIBPQ_POINTER
};

// The soname loaded: the ABI of Debian's libpq5 package.
inline constexpr const char* kLibrary = "libpq.so.5";

// Loads libpq and resolves every function, once per process; later calls return the same
// table (or the same error). The library stays loaded until the process ends. kUnavailable,
// naming the package, when it or one of its functions cannot be found.
Result<const Functions*> Load();

// The table Load() made. Only for code that runs after a successful Load().
const Functions& Loaded();

}  // namespace fogkeep::director::libpq
