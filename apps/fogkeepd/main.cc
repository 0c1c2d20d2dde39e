#include "node/daemon.h"

int main(int argc, char** argv) { return fogkeep::node::DaemonMain(argc, argv); }
