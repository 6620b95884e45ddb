// lxbox: a WSL-style Linux container launcher. main() only parses and dispatches: see host/cli/.
#include "host/cli/app.hpp"

int main(int argc, char** argv) { lxbox::cli::run_main(argc, argv); }
