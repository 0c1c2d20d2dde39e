#include "director/daemon.h"

int main(int argc, char** argv) { return fogkeep::director::DirectorMain(argc, argv); }
