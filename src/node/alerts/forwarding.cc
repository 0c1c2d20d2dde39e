#include "node/alerts/forwarding.h"

#include <utility>

#include "api/node.h"

namespace fogkeep::node::alerts {

ReportSender::ReportSender(std::shared_ptr<AlertStore> store, ReportOptions options, Clock clock)
    : store_(std::move(store)),
      options_(options),
      clock_(clock ? std::move(clock) : Clock([] { return std::chrono::steady_clock::now(); })) {}

Status ReportSender::Send(const api::NodeReport& state, const Post& post) {
  api::NodeReport report = state;
  report.alerts.clear();
  const std::string state_text = api::ToJsonText(report);
  for (std::size_t batch = 0; batch < options_.max_batches; ++batch) {
    std::vector<StoredAlert> waiting;
    if (store_)
      waiting = FK_TRY(store_->Unforwarded(options_.max_alerts, options_.max_alert_bytes));
    const bool due =
        !reported_ || state_text != last_state_ || clock_() - reported_at_ >= options_.interval;
    if (waiting.empty() && !due) return {};
    report.alerts.clear();
    for (StoredAlert& a : waiting) {
      report.alerts.push_back(api::AlertRecord{.id = 0,
                                               .device = "",
                                               .seq = a.seq,
                                               .received_at = a.received_at,
                                               .source = std::move(a.source),
                                               .alert_json = std::move(a.alert_json)});
    }
    const net::Response answer = FK_TRY(post(api::ToJsonText(report)));
    if (answer.status < 200 || answer.status > 299) {
      return std::unexpected(net::ResponseError(answer));
    }
    last_state_ = state_text;
    reported_at_ = clock_();
    reported_ = true;
    if (waiting.empty()) return {};
    FK_TRY(store_->MarkForwarded(report.alerts.back().seq));
    // Round again: more may be waiting (a full batch, or alerts that came meanwhile); with none,
    // the report just sent is not due again and the loop ends.
  }
  return {};
}

}  // namespace fogkeep::node::alerts
