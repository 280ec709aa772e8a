# A tiny consumer project built both ways a user takes typeformer in: add_subdirectory of
# the source tree, and find_package(typeformer CONFIG) after `cmake --install`.
set(_pkg_dir "${CMAKE_CURRENT_BINARY_DIR}/package")
add_test(NAME package.add_subdirectory
  COMMAND ${CMAKE_COMMAND} -DMODE=subdirectory -DSOURCE_DIR=${PROJECT_SOURCE_DIR}
          -DWORK_DIR=${_pkg_dir}/subdirectory -DCONSUMER=${CMAKE_CURRENT_LIST_DIR}/consumer
          -DCXX=${CMAKE_CXX_COMPILER} -P ${CMAKE_CURRENT_LIST_DIR}/run_consumer.cmake)
add_test(NAME package.find_package
  COMMAND ${CMAKE_COMMAND} -DMODE=find_package -DSOURCE_DIR=${PROJECT_SOURCE_DIR}
          -DWORK_DIR=${_pkg_dir}/find_package -DCONSUMER=${CMAKE_CURRENT_LIST_DIR}/consumer
          -DCXX=${CMAKE_CXX_COMPILER} -P ${CMAKE_CURRENT_LIST_DIR}/run_consumer.cmake)
set_tests_properties(package.add_subdirectory package.find_package PROPERTIES LABELS "package")

# The guide's walkthrough (docs/guide/7-walkthrough.md), its commands as written, on a copy of
# examples/walkthrough, with the package package.find_package installed: train, export with
# Debian's PyTorch, build, inspect against the manifest, load with verify::on, run, compare.
# Needs PyTorch, hence the exporters' option (the release preset).
if(TYPEFORMER_TEST_EXPORTERS)
  set_tests_properties(package.find_package PROPERTIES FIXTURES_SETUP typeformer_installed)
  add_test(NAME package.walkthrough
    COMMAND ${CMAKE_COMMAND} -DSOURCE_DIR=${PROJECT_SOURCE_DIR} -DWORK_DIR=${_pkg_dir}/walkthrough
            -DHOME_DIR=${_pkg_dir}/find_package/home -DCXX=${CMAKE_CXX_COMPILER}
            -P ${CMAKE_CURRENT_LIST_DIR}/run_walkthrough.cmake)
  set_tests_properties(package.walkthrough PROPERTIES LABELS "package"
                       FIXTURES_REQUIRED typeformer_installed)
endif()
