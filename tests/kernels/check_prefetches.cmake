# Asserts that BINARY holds prefetch instructions, run as
#   cmake -DOBJDUMP=objdump -DBINARY=kernel_tests_avx2 -P check_prefetches.cmake
# The flash kernel prefetches the next query block's rows when a mask function may end rows
# early. GCC 12 once deleted every such prefetch without a word (its pure-const analysis found
# the helper free of side effects), and only a profile showed it; a build that loses them again
# fails here instead. x86-64 only: the mnemonics are prefetcht0/t1/t2/nta/w.
if(NOT OBJDUMP OR NOT BINARY)
  message(FATAL_ERROR "check_prefetches.cmake needs -DOBJDUMP=... and -DBINARY=...")
endif()
execute_process(
  COMMAND "${OBJDUMP}" -d --no-show-raw-insn "${BINARY}"
  COMMAND grep -c -E "\tprefetch(t0|t1|t2|nta|w)[ \t]"
  OUTPUT_VARIABLE count
  RESULTS_VARIABLE results
  OUTPUT_STRIP_TRAILING_WHITESPACE)
list(GET results 0 objdump_result)
if(NOT objdump_result EQUAL 0)
  message(FATAL_ERROR "${OBJDUMP} could not disassemble ${BINARY} (${objdump_result})")
endif()
if(NOT count OR count EQUAL 0)
  message(FATAL_ERROR "${BINARY}: no prefetch instruction in the disassembly; the compiler "
                      "dropped the flash kernel's prefetches (kernels/flash_attention.hpp, "
                      "prefetch_rows_ahead)")
endif()
message(STATUS "${BINARY}: ${count} prefetch instructions")
