// Symbols the jazzer.js Linux prebuilt takes from glibc 2.38 and libstdc++ 13 (GCC 13), for
// machines with older ones. fuzz/setup-jazzer.mjs compiles this into a shared library, marks
// the prebuilt's need for those library versions weak, and the fuzz scripts preload it.
#include <cstdlib>

// glibc 2.38 redirects strtol/strtoul to C23 variants that also accept "0b" prefixes; the
// fuzzer only parses its own decimal flags, which the older functions read the same way.
extern "C" long __isoc23_strtol(const char *s, char **end, int base) {
  return std::strtol(s, end, base);
}

extern "C" unsigned long __isoc23_strtoul(const char *s, char **end, int base) {
  return std::strtoul(s, end, base);
}

// GCC 13 objects reference this to make sure the iostreams are initialised; older libstdc++
// initialises them itself, so nothing is left to do.
namespace std {
void ios_base_library_init() {}
}  // namespace std
