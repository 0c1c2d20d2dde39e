#include "cli/cli.h"

int main(int argc, char** argv) { return fogkeep::cli::Run(argc, argv); }
