#include "sensor/command.h"

int main(int argc, char** argv) { return fogkeep::sensor::SensorMain(argc, argv); }
