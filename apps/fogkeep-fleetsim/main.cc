#include "fleetsim/command.h"

int main(int argc, char** argv) { return fogkeep::fleetsim::FleetSimMain(argc, argv); }
