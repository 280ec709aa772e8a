# Fuzzing. The targets' bodies (fuzz_inputs.cpp) are built in every configuration: the replay
# test runs each committed corpus input through them (under ASan + UBSan in the asan presets).
# With TYPEFORMER_BUILD_FUZZERS (the `fuzz` preset, clang with -fsanitize=fuzzer-no-link,...),
# each target is also a libFuzzer executable and a CTest entry (label "fuzz") that fuzzes it
# for TYPEFORMER_FUZZ_SECONDS; tools/run-fuzzers.sh runs them for longer.

set(TYPEFORMER_FUZZ_DIR "${CMAKE_CURRENT_LIST_DIR}")
set(TYPEFORMER_FUZZ_TARGETS safetensors_file load_weights weight_conversion tfjs_model)

add_library(typeformer_fuzz_inputs STATIC ${TYPEFORMER_FUZZ_DIR}/fuzz_inputs.cpp
            ${TYPEFORMER_FUZZ_DIR}/structured_mutations.cpp)
target_link_libraries(typeformer_fuzz_inputs PUBLIC typeformer::header_only typeformer_simd PRIVATE typeformer_warnings)

add_executable(fuzz_corpus_tests ${TYPEFORMER_FUZZ_DIR}/corpus_replay_test.cpp)
target_link_libraries(fuzz_corpus_tests PRIVATE typeformer_fuzz_inputs typeformer_catch_main typeformer_warnings)
target_compile_definitions(fuzz_corpus_tests PRIVATE TYPEFORMER_FUZZ_CORPUS="${TYPEFORMER_FUZZ_DIR}/corpus"
                                                    TYPEFORMER_TEST_DATA="${TYPEFORMER_TEST_DATA_DIR}")
add_test(NAME fuzz_corpus COMMAND fuzz_corpus_tests)
set_tests_properties(fuzz_corpus PROPERTIES LABELS "unit")

# Regenerates the seed corpus: write_seed_corpus tests/fuzz/corpus
add_executable(write_seed_corpus EXCLUDE_FROM_ALL ${TYPEFORMER_FUZZ_DIR}/write_seed_corpus.cpp)
target_link_libraries(write_seed_corpus PRIVATE typeformer_fuzz_inputs typeformer_warnings)
target_compile_definitions(write_seed_corpus PRIVATE TYPEFORMER_TEST_DATA="${TYPEFORMER_TEST_DATA_DIR}")

option(TYPEFORMER_BUILD_FUZZERS "Build the libFuzzer executables (clang, -fsanitize=fuzzer-no-link in CMAKE_CXX_FLAGS)" OFF)
set(TYPEFORMER_FUZZ_SECONDS 25 CACHE STRING "How long each fuzz test fuzzes its target")
if(TYPEFORMER_BUILD_FUZZERS)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "TYPEFORMER_BUILD_FUZZERS needs clang (libFuzzer)")
  endif()
  foreach(target IN LISTS TYPEFORMER_FUZZ_TARGETS)
    add_executable(fuzz_${target} ${TYPEFORMER_FUZZ_DIR}/fuzz_${target}.cpp)
    target_link_libraries(fuzz_${target} PRIVATE typeformer_fuzz_inputs typeformer_warnings)
    target_link_options(fuzz_${target} PRIVATE -fsanitize=fuzzer)
    # New inputs go to the build tree; the committed corpus is only read.
    set(work "${CMAKE_BINARY_DIR}/fuzz-corpus/${target}")
    file(MAKE_DIRECTORY "${work}" "${CMAKE_BINARY_DIR}/fuzz-artifacts")
    set(dict "")
    if(target STREQUAL "tfjs_model")
      set(dict "-dict=${TYPEFORMER_FUZZ_DIR}/tfjs_model.dict")
    elseif(NOT target STREQUAL "weight_conversion")
      set(dict "-dict=${TYPEFORMER_FUZZ_DIR}/safetensors.dict")
    endif()
    add_test(NAME fuzz.${target}
             COMMAND fuzz_${target} -max_total_time=${TYPEFORMER_FUZZ_SECONDS} -timeout=30
                     -rss_limit_mb=1024 -malloc_limit_mb=512 -print_final_stats=1 ${dict}
                     -artifact_prefix=${CMAKE_BINARY_DIR}/fuzz-artifacts/${target}-
                     "${work}" "${TYPEFORMER_FUZZ_DIR}/corpus/${target}")
    set_tests_properties(fuzz.${target} PROPERTIES LABELS "fuzz")
  endforeach()
endif()
