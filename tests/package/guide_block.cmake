# guide_block(<file> <var>): the ```sh block of a guide page that the HTML comment
# "tests/package runs this block as written" marks, so the package tests run what users read.
function(guide_block file out)
  file(READ ${file} _guide)
  string(REGEX MATCH "tests/package runs this block as written[^\n]*\n```sh\n([^`]*)```" _ "${_guide}")
  if(NOT CMAKE_MATCH_1)
    message(FATAL_ERROR "${file} has no block marked for tests/package")
  endif()
  set(${out} "${CMAKE_MATCH_1}" PARENT_SCOPE)
endfunction()
