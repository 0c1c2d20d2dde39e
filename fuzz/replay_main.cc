// A libFuzzer target's entry point run without libFuzzer: on every file of the given corpus
// directories, then on deterministic mutations of each seed (bit flips, special bytes, cut,
// repeated and spliced ranges, truncations). The test suite builds every fuzz_*.cc with this
// main under ASan+UBSan and the ordinary compiler, so each seed and a few thousand near misses
// are replayed on every run without a second, clang-built tree; finding new inputs is
// scripts/fuzz.sh's job.
//
//   replay_fuzz_<name> [--mutations N] CORPUS_DIR...
//
// Exits 0 when every input ran (a finding aborts through the sanitizers or the target's own
// checks), 2 on a usage error or an unreadable corpus.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

using Bytes = std::vector<std::uint8_t>;

void Run(const Bytes& input) {
  // A copy of exactly `size` bytes on the heap, as libFuzzer passes it, so ASan sees a read
  // one past the end.
  std::unique_ptr<std::uint8_t[]> copy(new std::uint8_t[input.size()]);
  std::copy(input.begin(), input.end(), copy.get());
  LLVMFuzzerTestOneInput(copy.get(), input.size());
}

// Bytes that often sit on a parser's edges: NUL, high bit, all ones, JSON and HTTP syntax.
constexpr std::array<std::uint8_t, 14> kSpecial = {0x00, 0x01, 0x7f, 0x80, 0xff, '"',  '\\',
                                                   '{',  '}',  '[',  ':',  ',',  '\r', '\n'};

Bytes Mutate(const Bytes& seed, const std::vector<Bytes>& seeds, std::mt19937_64& random) {
  Bytes out = seed;
  const auto pick = [&](std::size_t bound) {
    return bound == 0 ? 0 : std::uniform_int_distribution<std::size_t>(0, bound - 1)(random);
  };
  const int edits = 1 + static_cast<int>(pick(4));
  for (int i = 0; i < edits; ++i) {
    const std::size_t at = pick(out.size() + 1);
    switch (pick(7)) {
      case 0:  // flip one bit
        if (at < out.size()) out[at] ^= static_cast<std::uint8_t>(1u << pick(8));
        break;
      case 1:  // a special byte in place
        if (at < out.size()) out[at] = kSpecial[pick(kSpecial.size())];
        break;
      case 2:  // a special byte inserted
        out.insert(out.begin() + static_cast<std::ptrdiff_t>(at), kSpecial[pick(kSpecial.size())]);
        break;
      case 3: {  // a range cut out
        const std::size_t length = std::min(out.size() - std::min(at, out.size()), 1 + pick(16));
        out.erase(out.begin() + static_cast<std::ptrdiff_t>(at),
                  out.begin() + static_cast<std::ptrdiff_t>(at + length));
        break;
      }
      case 4: {  // a range repeated
        const std::size_t length = std::min(out.size() - std::min(at, out.size()), 1 + pick(32));
        const Bytes range(out.begin() + static_cast<std::ptrdiff_t>(at),
                          out.begin() + static_cast<std::ptrdiff_t>(at + length));
        out.insert(out.begin() + static_cast<std::ptrdiff_t>(at), range.begin(), range.end());
        break;
      }
      case 5:  // truncated
        out.resize(at);
        break;
      default: {  // the tail of another seed spliced on
        const Bytes& other = seeds[pick(seeds.size())];
        const std::size_t from = pick(other.size() + 1);
        out.resize(at);
        out.insert(out.end(), other.begin() + static_cast<std::ptrdiff_t>(from), other.end());
        break;
      }
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  long mutations = 1000;
  std::vector<std::filesystem::path> directories;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--mutations" && i + 1 < argc) {
      char* end = nullptr;
      mutations = std::strtol(argv[++i], &end, 10);
      if (*end != '\0' || mutations < 0) {
        std::fprintf(stderr, "replay: --mutations takes a count\n");
        return 2;
      }
    } else if (arg.starts_with("-")) {
      std::fprintf(stderr, "usage: %s [--mutations N] CORPUS_DIR...\n", argv[0]);
      return 2;
    } else {
      directories.emplace_back(arg);
    }
  }
  std::vector<std::filesystem::path> files;
  for (const auto& directory : directories) {
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator(directory, error)) {
      if (entry.is_regular_file()) files.push_back(entry.path());
    }
    if (error) {
      std::fprintf(stderr, "replay: %s: %s\n", directory.c_str(), error.message().c_str());
      return 2;
    }
  }
  // Sorted, so the mutations (and a finding) are the same on every run.
  std::ranges::sort(files);
  std::vector<Bytes> seeds;
  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    seeds.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) {
      std::fprintf(stderr, "replay: cannot read %s\n", file.c_str());
      return 2;
    }
  }
  seeds.emplace_back();  // the empty input
  for (const Bytes& seed : seeds) Run(seed);
  std::mt19937_64 random(0x666f676b656570);  // "fogkeep"
  for (const Bytes& seed : seeds) {
    for (long i = 0; i < mutations; ++i) Run(Mutate(seed, seeds, random));
  }
  std::printf("replay: %zu seeds from %zu files, %ld mutations of each, no finding\n", seeds.size(),
              files.size(), mutations);
  return 0;
}
