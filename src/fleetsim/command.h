// fogkeep-fleetsim: N simulated fog nodes in one process, enrolled through a director's real
// EST endpoints and speaking mutual TLS to it afterwards, for load tests and rollout drills.
//
// Output: periodic statistics lines (stdout; stderr with --json) and a summary at the end
// (text, or one JSON object with --json). Exit status 0, or 1 with one line on stderr when the
// run cannot start (a refused --token, an unreachable director) or --until-running was not
// reached before --duration.
#pragma once

namespace fogkeep::fleetsim {

int FleetSimMain(int argc, char** argv);

}  // namespace fogkeep::fleetsim
