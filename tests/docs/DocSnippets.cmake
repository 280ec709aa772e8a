# Every ```cpp block of README.md and docs/ is compiled (tests/docs/extract_snippets.py says how
# a block is wrapped and how a Markdown comment gives it a setup). The sources are generated at
# configure time; a changed Markdown file reconfigures. Built at -O0 (only compilation is
# checked) and only where TYPEFORMER_BUILD_DOC_SNIPPETS is on (the dev and docs presets; CI's
# build:docs step).
add_test(NAME docs.error_catalogue
  COMMAND ${CMAKE_COMMAND} -DDIAGNOSTICS=${PROJECT_SOURCE_DIR}/include/typeformer/core/diagnostics.hpp
          -DCATALOGUE=${PROJECT_SOURCE_DIR}/docs/errors.md -P ${CMAKE_CURRENT_LIST_DIR}/check_error_catalogue.cmake)
set_tests_properties(docs.error_catalogue PROPERTIES LABELS "docs")

option(TYPEFORMER_BUILD_DOC_SNIPPETS "Compile every C++ block of the documentation" OFF)
if(NOT TYPEFORMER_BUILD_DOC_SNIPPETS)
  return()
endif()
find_program(TYPEFORMER_SNIPPET_PYTHON NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH REQUIRED)
file(GLOB_RECURSE _docs CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/docs/*.md")
set(_markdown "${PROJECT_SOURCE_DIR}/README.md" ${_docs})
set(_out "${CMAKE_CURRENT_BINARY_DIR}/doc_snippets")
file(REMOVE_RECURSE "${_out}")
execute_process(
  COMMAND ${TYPEFORMER_SNIPPET_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/extract_snippets.py
          ${_out} ${PROJECT_SOURCE_DIR} ${_markdown}
  RESULT_VARIABLE _result)
if(_result)
  message(FATAL_ERROR "tests/docs/extract_snippets.py failed")
endif()
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
             ${_markdown} ${CMAKE_CURRENT_LIST_DIR}/extract_snippets.py)
include(${_out}/snippets.cmake)
add_library(doc_snippets OBJECT ${TYPEFORMER_DOC_SNIPPETS})
target_link_libraries(doc_snippets PRIVATE typeformer::header_only typeformer_warnings typeformer_simd)
# A fragment's results are what the prose talks about: unused names are not faults there.
target_compile_options(doc_snippets PRIVATE -O0 -g0 -Wno-unused-variable
                       -Wno-unused-but-set-variable -Wno-unused-local-typedefs)
