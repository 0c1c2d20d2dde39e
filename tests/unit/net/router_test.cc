// Router, request-target parsing, header lookup and the error → status mapping.
#include "net/router.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "net/http.h"

namespace fogkeep::net {
namespace {

Handler Named(std::string name) {
  return [name](Request&) -> Result<Response> { return Response::Text(name); };
}

RouteOptions Perm(std::string permission) {
  RouteOptions options;
  options.permission = std::move(permission);
  return options;
}

std::vector<std::string> Segs(std::string_view path) { return ParseTarget(path)->segments; }

TEST(RouterTest, MatchesLiteralsAndParameters) {
  Router router;
  ASSERT_TRUE(router.Add(Method::kGet, "/api/v1/apps", Perm("apps.read"), Named("list")));
  ASSERT_TRUE(
      router.Add(Method::kPost, "/api/v1/apps/{id}/start", Perm("apps.write"), Named("start")));
  ASSERT_TRUE(router.Add(Method::kGet, "/api/v1/apps/{id}", Perm("apps.read"), Named("get")));

  Router::Match m = router.Find(Method::kPost, Segs("/api/v1/apps/nginx/start"));
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->pattern, "/api/v1/apps/{id}/start");
  EXPECT_EQ(m.route->options.permission, "apps.write");
  ASSERT_EQ(m.params.size(), 1u);
  EXPECT_EQ(m.params[0].first, "id");
  EXPECT_EQ(m.params[0].second, "nginx");

  m = router.Find(Method::kGet, Segs("/api/v1/apps/a%20b"));
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.params[0].second, "a b");  // parameters are decoded
}

TEST(RouterTest, NotFoundAndMethodNotAllowed) {
  Router router;
  ASSERT_TRUE(router.Add(Method::kGet, "/apps/{id}", Perm("r"), Named("get")));
  ASSERT_TRUE(router.Add(Method::kDelete, "/apps/{id}", Perm("w"), Named("del")));

  Router::Match m = router.Find(Method::kGet, Segs("/nothing/here"));
  EXPECT_EQ(m.route, nullptr);
  EXPECT_TRUE(m.allowed.empty());

  m = router.Find(Method::kPut, Segs("/apps/x"));
  EXPECT_EQ(m.route, nullptr);
  ASSERT_EQ(m.allowed.size(), 2u);
  EXPECT_EQ(Router::AllowHeader(m.allowed), "GET, DELETE");

  // A trailing slash is a different path.
  EXPECT_EQ(router.Find(Method::kGet, Segs("/apps/x/")).route, nullptr);
  EXPECT_EQ(router.Find(Method::kGet, Segs("/apps")).route, nullptr);
}

TEST(RouterTest, LiteralBeatsParameterBeatsTail) {
  Router router;
  ASSERT_TRUE(router.Add(Method::kGet, "/ui/{file...}", Perm("ui"), Named("tail")));
  ASSERT_TRUE(router.Add(Method::kGet, "/ui/{page}", Perm("ui"), Named("param")));
  ASSERT_TRUE(router.Add(Method::kGet, "/ui/index", Perm("ui"), Named("literal")));

  EXPECT_EQ(router.Find(Method::kGet, Segs("/ui/index")).route->pattern, "/ui/index");
  EXPECT_EQ(router.Find(Method::kGet, Segs("/ui/other")).route->pattern, "/ui/{page}");
  Router::Match m = router.Find(Method::kGet, Segs("/ui/css/site.css"));
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->pattern, "/ui/{file...}");
  EXPECT_EQ(m.params[0].second, "css/site.css");
}

TEST(RouterTest, RootRoute) {
  Router router;
  ASSERT_TRUE(router.Add(Method::kGet, "/", Perm("r"), Named("root")));
  EXPECT_NE(router.Find(Method::kGet, Segs("/")).route, nullptr);
  EXPECT_EQ(router.Find(Method::kGet, Segs("/x")).route, nullptr);
}

TEST(RouterTest, RefusesBadPatternsAndClashes) {
  Router router;
  EXPECT_EQ(router.Add(Method::kGet, "apps", Perm("r"), Named("x")).error().code(),
            ErrorCode::kInvalidInput);
  EXPECT_FALSE(router.Add(Method::kGet, "/apps/", Perm("r"), Named("x")));
  EXPECT_FALSE(router.Add(Method::kGet, "/a//b", Perm("r"), Named("x")));
  EXPECT_FALSE(router.Add(Method::kGet, "/a/{id", Perm("r"), Named("x")));
  EXPECT_FALSE(router.Add(Method::kGet, "/a/{1d}", Perm("r"), Named("x")));
  EXPECT_FALSE(router.Add(Method::kGet, "/a/{id}/{id}", Perm("r"), Named("x")));
  EXPECT_FALSE(router.Add(Method::kGet, "/a/{rest...}/b", Perm("r"), Named("x")));
  // A route that is not public must say which permission it needs.
  EXPECT_FALSE(router.Add(Method::kGet, "/a", RouteOptions{}, Named("x")));
  RouteOptions open;
  open.is_public = true;
  EXPECT_TRUE(router.Add(Method::kGet, "/health", open, Named("x")));

  ASSERT_TRUE(router.Add(Method::kGet, "/apps/{id}", Perm("r"), Named("x")));
  Status clash = router.Add(Method::kGet, "/apps/{name}", Perm("r"), Named("y"));
  ASSERT_FALSE(clash);
  EXPECT_EQ(clash.error().code(), ErrorCode::kConflict);
  EXPECT_TRUE(router.Add(Method::kPost, "/apps/{name}", Perm("w"), Named("y")));
  EXPECT_EQ(router.routes().size(), 3u);
}

TEST(ParseTargetTest, DecodesPathAndQuery) {
  Result<Target> t = ParseTarget("/api/v1/logs?follow=1&tail=100&name=a+b%26c&flag");
  ASSERT_TRUE(t) << t.error().message();
  EXPECT_EQ(t->path, "/api/v1/logs");
  EXPECT_EQ(t->segments, (std::vector<std::string>{"api", "v1", "logs"}));
  ASSERT_EQ(t->query.size(), 4u);
  EXPECT_EQ(t->query[0], (std::pair<std::string, std::string>{"follow", "1"}));
  EXPECT_EQ(t->query[2].second, "a b&c");
  EXPECT_EQ(t->query[3].first, "flag");

  Request r;
  r.query = t->query;
  EXPECT_EQ(r.Query("tail"), "100");
  EXPECT_FALSE(r.Query("missing"));
}

TEST(ParseTargetTest, RefusesHostileTargets) {
  for (std::string_view bad :
       {"", "*", "http://example.com/x", "/a/../etc/passwd", "/a/./b", "/a/%2e%2e/b", "/a/b%2Fc",
        "/a%00b", "/a?x=%00", "/a//b", "/a/%zz"}) {
    Result<Target> t = ParseTarget(bad);
    EXPECT_FALSE(t) << "accepted: " << bad;
    if (!t) {
      EXPECT_EQ(t.error().code(), ErrorCode::kInvalidInput);
    }
  }
  EXPECT_TRUE(ParseTarget("/a/b/"));  // a trailing slash is allowed (and routed distinctly)
}

TEST(ParseFormTest, DecodesFieldsAsHtmlFormsEncodeThem) {
  auto form = ParseForm(
      "grant_type=authorization_code&code=a%2Bb+c&&redirect_uri=https%3A%2F%2Fx%2Fcb&flag");
  ASSERT_TRUE(form) << form.error().message();
  ASSERT_EQ(form->size(), 4u);
  EXPECT_EQ((*form)[0], (std::pair<std::string, std::string>{"grant_type", "authorization_code"}));
  EXPECT_EQ((*form)[1].second, "a+b c");
  EXPECT_EQ((*form)[2].second, "https://x/cb");
  EXPECT_EQ((*form)[3], (std::pair<std::string, std::string>{"flag", ""}));
  EXPECT_TRUE(ParseForm("")->empty());
  for (std::string_view bad : {"a=%00", "%00=1", "a=%zz", "a=%4"}) {
    auto refused = ParseForm(bad);
    EXPECT_FALSE(refused) << "accepted: " << bad;
    if (!refused) {
      EXPECT_EQ(refused.error().code(), ErrorCode::kInvalidInput);
    }
  }
}

TEST(HeadersTest, CaseInsensitiveLookup) {
  Headers h;
  h.Add("Content-Type", "application/json");
  h.Add("X-Thing", "1");
  h.Add("x-thing", "2");
  EXPECT_EQ(h.Get("content-type"), "application/json");
  EXPECT_EQ(h.Get("X-THING"), "1");
  h.Set("X-Thing", "3");
  EXPECT_EQ(h.Get("x-thing"), "3");
  EXPECT_EQ(h.fields().size(), 2u);
  h.Remove("CONTENT-TYPE");
  EXPECT_FALSE(h.Has("Content-Type"));
}

TEST(ErrorMappingTest, EveryCodeHasItsStatusAndJsonBody) {
  const std::vector<std::pair<ErrorCode, int>> expected = {
      {ErrorCode::kInvalidInput, 400}, {ErrorCode::kUnauthenticated, 401},
      {ErrorCode::kForbidden, 403},    {ErrorCode::kNotFound, 404},
      {ErrorCode::kConflict, 409},     {ErrorCode::kIntegrity, 422},
      {ErrorCode::kLimit, 413},        {ErrorCode::kUnavailable, 503},
      {ErrorCode::kInternal, 500},
  };
  for (const auto& [code, status] : expected) {
    Response r = ErrorResponse(Error(code, "why \"quoted\"\n"));
    EXPECT_EQ(r.status, status);
    EXPECT_EQ(r.headers.Get("Content-Type"), "application/json");
    boost::json::value doc = boost::json::parse(r.body);
    const boost::json::object& error = doc.at("error").as_object();
    EXPECT_EQ(error.at("code").as_string(), ErrorCodeName(code));
    if (code == ErrorCode::kInternal) {
      EXPECT_EQ(error.at("message").as_string(), "internal error");  // details stay in the log
    } else {
      EXPECT_EQ(error.at("message").as_string(), "why \"quoted\"\n");
    }
    // And back, as a client sees it.
    Error back = ResponseError(r);
    EXPECT_EQ(back.code(), code);
  }
  Response plain;
  plain.status = 404;
  plain.body = "not json";
  EXPECT_EQ(ResponseError(plain).code(), ErrorCode::kNotFound);
}

TEST(MethodTest, NamesRoundTrip) {
  for (Method m : {Method::kGet, Method::kHead, Method::kPost, Method::kPut, Method::kPatch,
                   Method::kDelete, Method::kOptions}) {
    EXPECT_EQ(ParseMethod(MethodName(m)), m);
  }
  EXPECT_FALSE(ParseMethod("get"));
  EXPECT_FALSE(ParseMethod("CONNECT"));
}

}  // namespace
}  // namespace fogkeep::net
