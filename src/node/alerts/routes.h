// The node's alert routes (README.md of this directory has the wire format):
//   POST /api/v1/alerts   alerts.write   a host sensor's alerts (source "host") → 201
//                                        {"accepted", "last_seq"}; 429 + Retry-After over its
//                                        rate
//   GET  /api/v1/alerts   alerts.read    ?since=&limit=&detector=&app=&min_severity= →
//                                        {"alerts": [...], "next", "dropped"}
//   POST /v1/alerts       on an app's own socket: the app is whoever the socket's listener
//                         belongs to (the request's principal), never anything in the body
#pragma once

#include <memory>
#include <string_view>

#include "core/error.h"
#include "net/router.h"
#include "node/alerts/intake.h"

namespace fogkeep::node::alerts {

// The most alerts one GET returns, and how many when it does not say.
inline constexpr std::size_t kMaxListLimit = 1000;
inline constexpr std::size_t kDefaultListLimit = 100;

// POST and GET /api/v1/alerts on the node API.
Status RegisterAlertRoutes(net::Router& router, std::shared_ptr<AlertIntake> intake);

// POST /v1/alerts on the apps' socket server, whose routes all declare `permission` (the
// socket's, granted by its listener authenticator alone). The principal's id is the app.
Status RegisterAppAlertRoute(net::Router& router, std::shared_ptr<AlertIntake> intake,
                             std::string_view permission);

}  // namespace fogkeep::node::alerts
