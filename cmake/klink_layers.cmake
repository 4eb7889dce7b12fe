# One static library per folder, whose headers only the targets that link it
# can see (ARCHITECTURE.md, "Layers").
#
#   klink_library(<target> PREFIX <include prefix> SOURCES ...
#                 [PUBLIC <targets>...] [PRIVATE <targets>...] [REEXPORT <headers>...])
#
# The folder's own headers (*.h directly in it, not in its subfolders, which
# are libraries of their own) are linked one by one into
# build/include/<target>/<prefix>/, and that root is the library's only
# include directory. So `#include "<prefix>/x.h"` works wherever the library
# is linked and nowhere else: an include that runs up a layer, or past the
# layer in between (a PRIVATE dependency), finds no file and fails to compile.
# The project root is on no include path.
#
# REEXPORT names headers of PRIVATE dependencies ("mirror/mirror_options.h")
# that this library's own headers use as value types; they, and nothing else
# of that dependency, become visible to the targets linking this one.
function(klink_library target)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "PREFIX" "SOURCES;PUBLIC;PRIVATE;REEXPORT")
  if(arg_SOURCES)
    add_library(${target} STATIC ${arg_SOURCES})
    set(scope PUBLIC)
  else()
    add_library(${target} INTERFACE)
    set(scope INTERFACE)
  endif()
  set(root "${CMAKE_BINARY_DIR}/include/${target}")
  file(REMOVE_RECURSE "${root}")
  set(dir "${root}")
  if(arg_PREFIX)
    set(dir "${root}/${arg_PREFIX}")
  endif()
  file(MAKE_DIRECTORY "${dir}")
  file(GLOB headers CONFIGURE_DEPENDS "${CMAKE_CURRENT_SOURCE_DIR}/*.h")
  foreach(header IN LISTS headers)
    get_filename_component(name "${header}" NAME)
    file(CREATE_LINK "${header}" "${dir}/${name}" SYMBOLIC)
  endforeach()
  foreach(header IN LISTS arg_REEXPORT)
    if(NOT EXISTS "${PROJECT_SOURCE_DIR}/${header}")
      message(FATAL_ERROR "klink_library(${target}): REEXPORT ${header} does not exist")
    endif()
    get_filename_component(sub "${header}" DIRECTORY)
    file(MAKE_DIRECTORY "${root}/${sub}")
    file(CREATE_LINK "${PROJECT_SOURCE_DIR}/${header}" "${root}/${header}" SYMBOLIC)
  endforeach()
  target_include_directories(${target} ${scope} "${root}")
  if(arg_PUBLIC)
    target_link_libraries(${target} ${scope} ${arg_PUBLIC})
  endif()
  if(arg_PRIVATE)
    target_link_libraries(${target} PRIVATE ${arg_PRIVATE})
  endif()
endfunction()
