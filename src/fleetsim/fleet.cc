#include "fleetsim/fleet.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <memory>
#include <thread>

#include "api/director.h"
#include "api/node.h"
#include "core/log.h"
#include "fleetsim/apply.h"
#include "fleetsim/selection.h"

namespace fogkeep::fleetsim {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);
constexpr double kPollJitter = 0.10;
constexpr double kRetryJitter = 0.50;
// How often the controller looks at the clock, the counters and the end conditions.
constexpr milliseconds kTick{100};
// Starts of long-polling (or continuously polling) nodes are spread over 1 ms per node, at
// most this long.
constexpr milliseconds kMaxRamp{10'000};
// After the end, how often the nodes still running are cancelled again while the controller
// waits for them. Every node ends once cancelled (a cancelled connection opens no other), so
// this is a safety net, not a deadline: the loop is never stopped under a running node, whose
// coroutine frame refers to state that ends with RunFleet.
constexpr milliseconds kCancelAgain{1'000};

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

struct SimNode {
  SimNode(asio::any_io_executor executor, std::size_t index, NodeIdentity node_identity,
          FailureRule failure, std::uint64_t seed, const DirectorEndpoint& where, TlsClient& tls)
      : index(index),
        identity(std::move(node_identity)),
        rule(std::move(failure)),
        random(seed, index),
        strand(executor),
        connection(executor, where, tls, &identity.tls),
        timer(executor) {}

  const std::size_t index;
  const NodeIdentity identity;  // before `connection`, which points into it
  const FailureRule rule;
  // Everything below is used on `strand` only.
  NodeRandom random;
  asio::any_io_executor strand;
  HttpsConnection connection;
  asio::steady_timer timer;
  std::string etag;
  bool have_desired = false;
  std::vector<api::DesiredApp> desired;
  std::vector<api::DeviceApp> apps;       // what it runs, as it reports
  std::vector<std::string> running_keys;  // its share of FleetStats::Running()
  Clock::time_point reported_at{};
};

// State every node and the controller share; atomics, as nodes run on several threads.
struct FleetRun {
  const SimOptions& options;
  FleetStats& stats;
  std::string watched;      // AppKey of --until-running, "" when none
  std::string poll_target;  // GET target of every poll
  Clock::time_point polling_started;
  std::atomic<bool> stopping{false};
  std::atomic<bool> interrupted{false};
  std::atomic<std::size_t> live{0};
  // Nanoseconds after polling_started; -1 until it happens.
  std::atomic<std::int64_t> first_change{-1};
  std::atomic<std::int64_t> reached{-1};

  std::int64_t SinceStart() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - polling_started)
        .count();
  }
  void MarkOnce(std::atomic<std::int64_t>& when) {
    std::int64_t unset = -1;
    when.compare_exchange_strong(unset, SinceStart());
  }
};

// Sleeps on the node's timer; Stop's cancellation cuts it short.
asio::awaitable<void> Sleep(SimNode& node, milliseconds how_long) {
  node.timer.expires_after(how_long);
  co_await node.timer.async_wait(kAsTuple);
}

void CountFailure(FleetRun& run, const SimNode& node, const Error& error) {
  run.stats.CountError(HttpsConnection::Kind(error), error.message());
  log::Debug("node {} ({}): {}", node.index, node.identity.device_id, error.message());
}

void CountBadAnswer(FleetRun& run, const SimNode& node, const HttpAnswer& answer,
                    std::string_view what) {
  const std::string message = std::string(what) + ": " + AnswerMessage(answer);
  run.stats.CountError("HTTP " + std::to_string(answer.status), message);
  log::Debug("node {} ({}): {}", node.index, node.identity.device_id, message);
}

// POST /api/v1/node/report with the node's apps; true when the director took it (204).
// `last_of_round`: no poll follows on this connection, so in close mode it is closed.
asio::awaitable<bool> Report(FleetRun& run, SimNode& node, bool last_of_round) {
  const api::NodeReport report{
      .agent_version = run.options.agent_version, .health = "ok", .apps = node.apps};
  const HttpCall call{.verb = Verb::kPost,
                      .target = "/api/v1/node/report",
                      .headers = {{"Content-Type", "application/json"}},
                      .body = api::ToJsonText(report),
                      .close = last_of_round && run.options.connection == ConnectionMode::kClose};
  const std::uint64_t handshakes = node.connection.handshakes();
  Result<HttpAnswer> answer = co_await node.connection.Exchange(call, run.options.timeout);
  for (std::uint64_t i = handshakes; i < node.connection.handshakes(); ++i) {
    run.stats.CountHandshake();
  }
  if (run.stopping) co_return false;
  if (!answer) {
    CountFailure(run, node, answer.error());
    co_return false;
  }
  run.stats.CountRequest();
  if (answer->status != 204) {
    CountBadAnswer(run, node, *answer, "report");
    co_return false;
  }
  run.stats.CountReport();
  node.reported_at = Clock::now();
  std::vector<std::string> keys = RunningKeys(node.apps);
  if (keys != node.running_keys) {
    const std::int64_t watched = run.stats.ReplaceRunning(node.running_keys, keys, run.watched);
    node.running_keys = std::move(keys);
    if (!run.watched.empty() && watched == static_cast<std::int64_t>(run.options.nodes)) {
      run.MarkOnce(run.reached);
    }
  }
  co_return true;
}

// One poll. Returns false after a failure (counted), true otherwise; `changed` is set when the
// answer holds apps that differ from the node's last desired ones.
asio::awaitable<bool> Poll(FleetRun& run, SimNode& node, bool* changed) {
  *changed = false;
  HttpCall call{.verb = Verb::kGet,
                .target = run.poll_target,
                .close = run.options.connection == ConnectionMode::kClose};
  if (!node.etag.empty()) call.headers.emplace_back("If-None-Match", node.etag);
  const std::uint64_t handshakes = node.connection.handshakes();
  Result<HttpAnswer> answer =
      co_await node.connection.Exchange(call, run.options.timeout + run.options.long_poll);
  for (std::uint64_t i = handshakes; i < node.connection.handshakes(); ++i) {
    run.stats.CountHandshake();
  }
  if (run.stopping) co_return false;
  if (!answer) {
    CountFailure(run, node, answer.error());
    co_return false;
  }
  run.stats.CountRequest();
  if (answer->status == 304) {
    run.stats.CountDesired304();
    co_return true;
  }
  if (answer->status != 200) {
    CountBadAnswer(run, node, *answer, "desired state");
    co_return false;
  }
  run.stats.CountDesired200();
  Result<api::DesiredState> state = api::FromJsonText<api::DesiredState>(answer->body);
  if (!state) {
    run.stats.CountError("desired state", "desired state: " + state.error().message());
    co_return false;
  }
  node.etag = std::move(answer->etag);
  if (node.have_desired && SameApps(node.desired, state->apps)) co_return true;
  if (node.have_desired) run.MarkOnce(run.first_change);
  *changed = !node.have_desired ? !state->apps.empty() : true;
  node.have_desired = true;
  node.desired = std::move(state->apps);
  co_return true;
}

asio::awaitable<void> NodeLoop(FleetRun& run, SimNode& node, milliseconds ramp) {
  struct Alive {
    FleetRun& run;
    ~Alive() { run.live.fetch_sub(1); }
  } alive{run};
  const SimOptions& options = run.options;
  const milliseconds retry = options.retry_delay;
  co_await Sleep(node, node.random.Below(ramp));
  bool reported = false;
  while (!run.stopping) {
    const bool report_due =
        !reported || (options.report_interval.count() > 0 &&
                      Clock::now() - node.reported_at >= options.report_interval);
    if (report_due) {
      if (!co_await Report(run, node, /*last_of_round=*/false)) {
        if (!run.stopping) co_await Sleep(node, node.random.Jitter(retry, kRetryJitter));
        continue;
      }
      reported = true;
    }
    if (run.stopping) break;
    bool changed = false;
    if (!co_await Poll(run, node, &changed)) {
      if (!run.stopping) co_await Sleep(node, node.random.Jitter(retry, kRetryJitter));
      continue;
    }
    if (changed && !run.stopping) {
      co_await Sleep(node, options.apply_time);
      if (run.stopping) break;
      node.apps = AppliedApps(node.desired, node.rule);
      // A failed report is retried by the next round: `reported` goes false.
      reported = co_await Report(run, node, /*last_of_round=*/true);
    }
    if (options.long_poll.count() == 0 && !run.stopping) {
      co_await Sleep(node, node.random.Jitter(options.poll_interval, kPollJitter));
    }
  }
  node.connection.Close();
}

struct Window {
  Clock::time_point at;
  Counters counters;
};

struct Ending {
  Clock::time_point at;
  Counters totals;
  Window window;
};

asio::awaitable<void> Control(FleetRun& run, std::vector<std::unique_ptr<SimNode>>& nodes,
                              asio::signal_set& signals,
                              const std::function<void(const std::string&)>& print,
                              Ending& ending) {
  const SimOptions& options = run.options;
  asio::steady_timer tick(co_await asio::this_coro::executor);
  std::optional<Window> window;
  Counters last = run.stats.Read();
  Clock::time_point last_at = run.polling_started;
  Clock::time_point next_line = run.polling_started + options.stats_interval;
  for (;;) {
    const Clock::time_point now = Clock::now();
    if (!window && now - run.polling_started >= options.warmup) {
      window = Window{now, run.stats.Read()};
    }
    if (options.stats_interval.count() > 0 && now >= next_line) {
      const Counters current = run.stats.Read();
      print(StatsLine(current, last, Seconds(now - last_at), Seconds(now - run.polling_started),
                      options.nodes, run.stats.Running()));
      last = current;
      last_at = now;
      next_line += options.stats_interval;
    }
    if (run.interrupted || run.reached >= 0 ||
        (options.duration && now - run.polling_started >= *options.duration)) {
      break;
    }
    tick.expires_after(kTick);
    co_await tick.async_wait(kAsTuple);
  }

  ending.at = Clock::now();
  ending.totals = run.stats.Read();
  ending.window = window.value_or(Window{ending.at, ending.totals});
  run.stopping = true;
  boost::system::error_code ignored;
  signals.cancel(ignored);
  while (run.live > 0) {
    for (const std::unique_ptr<SimNode>& node : nodes) {
      asio::post(node->strand, [raw = node.get()] {
        raw->timer.cancel();
        raw->connection.Cancel();
      });
    }
    const Clock::time_point again = Clock::now() + kCancelAgain;
    while (run.live > 0 && Clock::now() < again) {
      tick.expires_after(milliseconds(20));
      co_await tick.async_wait(kAsTuple);
    }
  }
}

void LogEnd(std::string_view what, std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    log::Error("{} ended by an exception: {}", what, ex.what());
  } catch (...) {
    log::Error("{} ended by an unexpected exception", what);
  }
}

}  // namespace

Summary RunFleet(asio::io_context& io, const SimOptions& options, const DirectorEndpoint& where,
                 TlsClient& tls, std::vector<NodeIdentity> identities, FleetStats& stats,
                 FleetStart start, const std::function<void(const std::string&)>& print) {
  FleetRun run{.options = options, .stats = stats};
  if (options.until_running) {
    run.watched = AppKey(options.until_running->app, options.until_running->version);
  }
  run.poll_target = "/api/v1/node/desired";
  if (options.long_poll.count() > 0) {
    run.poll_target += "?wait=" + std::to_string(options.long_poll.count());
  }

  const std::vector<bool> failing =
      ChooseFailingNodes(identities.size(), options.fail_percent, options.seed);
  std::vector<std::unique_ptr<SimNode>> nodes;
  nodes.reserve(identities.size());
  for (std::size_t i = 0; i < identities.size(); ++i) {
    nodes.push_back(std::make_unique<SimNode>(
        asio::make_strand(io), i, std::move(identities[i]),
        FailureRule{.node_fails = failing[i], .version = options.fail_version}, options.seed, where,
        tls));
  }
  const milliseconds ramp =
      options.long_poll.count() == 0 && options.poll_interval.count() > 0
          ? options.poll_interval
          : std::min(kMaxRamp, milliseconds(static_cast<std::int64_t>(nodes.size())));

  run.polling_started = Clock::now();
  for (const std::unique_ptr<SimNode>& node : nodes) {
    run.live.fetch_add(1);
    asio::co_spawn(node->strand, NodeLoop(run, *node, ramp),
                   [](std::exception_ptr e) { LogEnd("a node", e); });
  }
  const asio::any_io_executor control = asio::make_strand(io);
  asio::signal_set signals(control, SIGINT, SIGTERM);
  signals.async_wait([&run](const boost::system::error_code& ec, int) {
    if (!ec) run.interrupted = true;
  });
  Ending ending;
  asio::co_spawn(control, Control(run, nodes, signals, print, ending),
                 [](std::exception_ptr e) { LogEnd("the controller", e); });

  std::vector<std::thread> helpers;
  for (std::size_t i = 1; i < options.threads; ++i) helpers.emplace_back([&io] { io.run(); });
  io.run();
  for (std::thread& helper : helpers) helper.join();

  Summary summary{.nodes = options.nodes,
                  .enroll_seconds = start.enroll_seconds,
                  .identities_loaded = start.identities_loaded,
                  .totals = ending.totals,
                  .window_seconds = Seconds(ending.at - ending.window.at),
                  .window = Delta(ending.totals, ending.window.counters),
                  .running = stats.Running(),
                  .error_kinds = stats.ErrorKinds(),
                  .last_error = stats.LastError(),
                  .until_running = options.until_running};
  if (options.until_running && run.reached >= 0) {
    summary.until_reached = true;
    summary.until_from_change = run.first_change >= 0;
    const std::int64_t from = std::max<std::int64_t>(run.first_change.load(), 0);
    summary.until_seconds = static_cast<double>(run.reached.load() - from) / 1e9;
  }
  return summary;
}

}  // namespace fogkeep::fleetsim
