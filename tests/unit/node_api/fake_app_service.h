// FakeAppService: the app registry's test double for the node API's tests.
#pragma once

#include <map>
#include <mutex>
#include <string>

#include "crypto/hash.h"
#include "node/app_service.h"

namespace fogkeep::node {

// A test double of the app registry: apps live in a map, installs consume and hash the
// package stream, and every call is recorded so tests can see what reached the service.
class FakeAppService : public AppService {
 public:
  Result<AppInfo> Install(package::ByteSource& package, const InstallOptions& options) override {
    crypto::Digest digest;
    std::uint64_t total = 0;
    char buf[16384];
    for (;;) {
      std::size_t n = FK_TRY(package.Read(buf, sizeof(buf)));
      if (n == 0) break;
      digest.Update(buf, n);
      total += n;
    }
    std::lock_guard lock(mu_);
    last_upload_sha256_ = digest.HexFinal();
    last_upload_bytes_ = total;
    AppInfo app;
    app.id = options.app_id.empty() ? "hello" : options.app_id;
    if (apps_.contains(app.id)) return Fail(ErrorCode::kConflict, "app " + app.id + " exists");
    app.name = "hello";
    app.version = "1.0";
    app.type = "docker";
    app.profile = "c1.tiny";
    app.memory_mb = 32;
    app.cpu_units = 100;
    app.network = "none";
    app.ports = {"tcp/8080"};
    apps_[app.id] = app;
    return app;
  }
  Result<AppInfo> Upgrade(const std::string& id, package::ByteSource& package) override {
    char buf[4096];
    while (FK_TRY(package.Read(buf, sizeof(buf))) > 0) {
    }
    std::lock_guard lock(mu_);
    auto it = apps_.find(id);
    if (it == apps_.end()) return Fail(ErrorCode::kNotFound, "no app " + id);
    it->second.version = "2.0";
    return it->second;
  }
  Result<AppInfo> Apply(const std::string& id, AppAction action) override {
    std::lock_guard lock(mu_);
    auto it = apps_.find(id);
    if (it == apps_.end()) return Fail(ErrorCode::kNotFound, "no app " + id);
    it->second.state = FK_TRY(Transition(it->second.state, action));
    actions_.push_back(std::string(AppActionName(action)) + " " + id);
    return it->second;
  }
  Status Uninstall(const std::string& id) override {
    std::lock_guard lock(mu_);
    if (apps_.erase(id) == 0) return Fail(ErrorCode::kNotFound, "no app " + id);
    return {};
  }
  Result<std::vector<AppInfo>> List() override {
    std::lock_guard lock(mu_);
    std::vector<AppInfo> out;
    for (const auto& [id, app] : apps_) out.push_back(app);
    return out;
  }
  Result<AppInfo> Get(const std::string& id) override {
    std::lock_guard lock(mu_);
    auto it = apps_.find(id);
    if (it == apps_.end()) return Fail(ErrorCode::kNotFound, "no app " + id);
    return it->second;
  }
  Result<std::string> Logs(const std::string& id, std::size_t tail_lines) override {
    std::lock_guard lock(mu_);
    if (!apps_.contains(id)) return Fail(ErrorCode::kNotFound, "no app " + id);
    last_tail_ = tail_lines;
    return logs_[id];
  }
  Result<AppMetrics> Metrics(const std::string& id) override {
    std::lock_guard lock(mu_);
    auto it = apps_.find(id);
    if (it == apps_.end()) return Fail(ErrorCode::kNotFound, "no app " + id);
    return AppMetrics{.id = id,
                      .state = it->second.state,
                      .cpu_seconds = 1.5,
                      .memory_bytes = 1048576,
                      .memory_limit_bytes = 33554432,
                      .pids = 3,
                      .oom_kills = 0,
                      .restarts = 2};
  }
  Result<std::string> GetConfig(const std::string& id) override {
    std::lock_guard lock(mu_);
    if (!apps_.contains(id)) return Fail(ErrorCode::kNotFound, "no app " + id);
    return configs_[id];
  }
  Status SetConfig(const std::string& id, const std::string& ini) override {
    std::lock_guard lock(mu_);
    if (!apps_.contains(id)) return Fail(ErrorCode::kNotFound, "no app " + id);
    configs_[id] = ini;
    return {};
  }
  Result<PlatformPolicy> GetPolicy() override {
    std::lock_guard lock(mu_);
    return policy_;
  }
  Status SetPolicy(const PlatformPolicy& policy) override {
    std::lock_guard lock(mu_);
    policy_ = policy;
    return {};
  }
  Result<TrustMaterial> GetTrust() override {
    std::lock_guard lock(mu_);
    return trust_;
  }
  Status SetTrust(const TrustMaterial& trust) override {
    for (const auto& pem : trust.anchors) {
      if (pem.find("BEGIN CERTIFICATE") == std::string::npos) {
        return Fail(ErrorCode::kInvalidInput, "anchor is not a PEM certificate");
      }
    }
    std::lock_guard lock(mu_);
    trust_ = trust;
    return {};
  }

  // Test controls.
  void AddApp(const std::string& id, AppState state) {
    std::lock_guard lock(mu_);
    AppInfo app;
    app.id = id;
    app.name = id;
    app.version = "1.0";
    app.state = state;
    apps_[id] = app;
  }
  void AppendLog(const std::string& id, const std::string& text) {
    std::lock_guard lock(mu_);
    logs_[id] += text;
  }
  std::string last_upload_sha256() {
    std::lock_guard lock(mu_);
    return last_upload_sha256_;
  }
  std::uint64_t last_upload_bytes() {
    std::lock_guard lock(mu_);
    return last_upload_bytes_;
  }
  std::vector<std::string> actions() {
    std::lock_guard lock(mu_);
    return actions_;
  }

 private:
  std::mutex mu_;
  std::map<std::string, AppInfo> apps_;
  std::map<std::string, std::string> logs_;
  std::map<std::string, std::string> configs_;
  PlatformPolicy policy_;
  TrustMaterial trust_;
  std::vector<std::string> actions_;
  std::string last_upload_sha256_;
  std::uint64_t last_upload_bytes_ = 0;
  std::size_t last_tail_ = 0;
};

}  // namespace fogkeep::node
