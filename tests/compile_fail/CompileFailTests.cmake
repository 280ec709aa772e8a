# Compile-fail tests: each case is compiled with -fsyntax-only and must fail with the text it
# states in its first `error:` line, without the text it forbids, in at most the number of
# lines it allows; its ok twin (-DTYPEFORMER_OK_TWIN) must compile. The cases include only
# headers that do not pull in xtensor or Catch2, so each check takes about a second.
file(GLOB _cases CONFIGURE_DEPENDS "${CMAKE_CURRENT_LIST_DIR}/cases/*.cpp")
foreach(_case IN LISTS _cases)
  get_filename_component(_name "${_case}" NAME_WE)
  add_test(NAME compile_fail.${_name}
    COMMAND ${CMAKE_COMMAND}
      -DCOMPILER=${CMAKE_CXX_COMPILER}
      -DINCLUDE_DIR=${PROJECT_SOURCE_DIR}/include
      -DCASE=${_case}
      -P ${CMAKE_CURRENT_LIST_DIR}/check_case.cmake)
  set_tests_properties(compile_fail.${_name} PROPERTIES LABELS "compile_fail")
  if(_name MATCHES "^sanity_")
    # Sanity cases state something false: the harness must report them as failures.
    set_tests_properties(compile_fail.${_name} PROPERTIES WILL_FAIL TRUE)
  endif()
endforeach()
