// The fault-injection tests' shared moves (tests/e2e/fault_kill_test.cpp for the store verbs,
// tests/vm/vm_fault_kill_test.cpp for vm stop and shutdown with a VM running): a seeded random
// moment, and a command killed with SIGKILL at it.
#pragma once

#include <chrono>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace lxbox::test {

// LXBOX_FAULT_SEED=N reproduces a run; otherwise a fresh seed (the tests print it).
unsigned fault_seed();

// A count from the environment variable `name`, else `fallback`.
int count_from_env(const char* name, int fallback);

// Runs argv (stdio on /dev/null, environment plus extra_env), kills it with SIGKILL after delay
// and reaps it; true when the kill landed (it was still running then).
bool run_and_kill(const std::vector<std::string>& argv, std::chrono::microseconds delay,
                  const std::vector<std::string>& extra_env = {});

// One kill of argv at a moment drawn uniformly from [0, full]. When the command won the race
// (it had ended before the kill), prepare() sets its state up again and the moment is halved,
// up to 12 times, so that every kill counted is a kill. How many runs it took, 0 if none was
// killed.
int kill_somewhere(const std::vector<std::string>& argv, std::chrono::microseconds full, std::mt19937& rng,
                   const std::function<void()>& prepare, const std::vector<std::string>& extra_env = {});

}  // namespace lxbox::test
