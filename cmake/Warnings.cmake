set(WFMPI_WARNINGS
  -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes
  -Wformat=2 -Wvla -Wcast-qual -Wwrite-strings)
if(WFMPI_WERROR)
  list(APPEND WFMPI_WARNINGS -Werror)
endif()

# Applied per target so third-party code (none vendored today) is not affected.
function(wfmpi_target_warnings target)
  target_compile_options(${target} PRIVATE ${WFMPI_WARNINGS})
endfunction()
