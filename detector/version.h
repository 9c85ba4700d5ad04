// klaxon's version, set by the build from the CMake project version.
#ifndef KLAXON_DETECTOR_VERSION_H_
#define KLAXON_DETECTOR_VERSION_H_

namespace klaxon {

#ifndef KLAXON_VERSION
#define KLAXON_VERSION "dev"
#endif
inline constexpr char kVersion[] = KLAXON_VERSION;

}  // namespace klaxon

#endif  // KLAXON_DETECTOR_VERSION_H_
