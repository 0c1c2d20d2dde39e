// Private to net/ (and fuzz/): how fogkeep configures Beast's HTTP parsers and translates
// between Beast messages and the plain types of http.h. The server, the client and the fuzz
// target all go through these functions, so the fuzzer exercises exactly what the server runs.
// Includes Beast: never include this from a public header.
#pragma once

#include <boost/beast/core/error.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>

#include <cstddef>
#include <string>

#include "core/error.h"
#include "net/http.h"
#include "net/router.h"

namespace fogkeep::net::wire {

namespace http = boost::beast::http;

// Request header limits; the rest of ServerLimits applies to sockets, not to parsing.
struct ParserLimits {
  std::size_t max_header_bytes = 16 * 1024;
};

// Applies the header limit and disables eager body parsing, so that a header can be judged
// (route, authentication, Content-Length against the route's limit) before any body byte is
// read.
void ConfigureRequestParser(http::request_parser<http::empty_body>& parser,
                            const ParserLimits& limits);

// Method, target, path, segments, query and header fields of a parsed request header.
// kInvalidInput for HTTP versions other than 1.0 and 1.1, unsupported methods and targets
// ParseTarget refuses.
Status FillRequest(const http::request_header<>& header, Request& out);

// True when `ec` says the bytes were not valid HTTP (or broke a parser limit), as opposed to
// the connection failing or ending.
bool IsProtocolError(const boost::beast::error_code& ec);
// The Error a failed read maps to: kInvalidInput for malformed input (header too large
// included: the client sent what no server needs), kLimit for a body past the route's limit,
// kUnavailable for everything the network did.
Error ReadError(const boost::beast::error_code& ec, std::string_view what);

// Copies `headers` into `fields`, dropping any whose name is not an RFC 9110 token or whose
// value holds CR, LF or NUL (no header injection through values handlers compute).
void CopyHeaders(const Headers& headers, http::fields& fields);
Headers FromFields(const http::fields& fields);

}  // namespace fogkeep::net::wire
