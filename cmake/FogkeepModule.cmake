# fogkeep_module(NAME SOURCES ... DEPS ...): one static library per module under src/<NAME>.
# Headers are included as "<module>/<file>.h" from src/. DEPS lists other modules (public)
# and third-party targets.
function(fogkeep_module name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(fogkeep_${name} STATIC ${ARG_SOURCES})
  add_library(fogkeep::${name} ALIAS fogkeep_${name})
  target_include_directories(fogkeep_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(fogkeep_${name} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
endfunction()

# fogkeep_test(NAME SOURCES ... DEPS ... [LABELS ...]): a GoogleTest executable registered with CTest.
function(fogkeep_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest_main GTest::gmock)
  target_compile_definitions(${name} PRIVATE
    FOGKEEP_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    FOGKEEP_BINARY_DIR="${PROJECT_BINARY_DIR}")
  include(GoogleTest)
  gtest_discover_tests(${name} PROPERTIES LABELS "${ARG_LABELS}" DISCOVERY_TIMEOUT 60)
endfunction()
