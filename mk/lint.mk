# make lint: the layout check and static analysis over the tree (clang-tidy + cppcheck); fails
# on any finding.
# cppcheck 2.10 reads neither jansson's iteration macros (unknownMacro) nor the cleanup
# attribute (memleak false positives on every _cleanup_free_), and trips over a compound literal
# in a ternary (internalAstError): those three are suppressed; leaks are ASan's and valgrind's job.
LINT_SRC = $(sort $(LIB_SRC) $(CLI_SRC) $(wildcard plugins/*/*/*.c))
LINT_CFLAGS = -std=gnu11 -D_GNU_SOURCE -Iinclude $(shell $(PKG_CONFIG) --cflags $(PKGS)) \
	-DBERTH_LIBEXECDIR='"x"' -DBERTH_CNI_BIN_DIR='"x"' -DBERTH_STORAGE_BIN_DIR='"x"' \
	-DBERTH_SYSCONFDIR='"x"' -DBERTH_VERSION='"x"'
CLANG_TIDY_CHECKS = -*,clang-analyzer-*,-clang-analyzer-security.insecureAPI.*,\
bugprone-*,-bugprone-easily-swappable-parameters,-bugprone-reserved-identifier,\
-bugprone-narrowing-conversions,-bugprone-branch-clone,-bugprone-macro-parentheses,\
-bugprone-assignment-in-if-condition,-bugprone-implicit-widening-of-multiplication-result,\
-bugprone-signal-handler,-bugprone-suspicious-string-compare,-bugprone-not-null-terminated-result,\
-clang-analyzer-unix.Malloc,-clang-analyzer-valist.Uninitialized,-clang-analyzer-deadcode.DeadStores,-clang-analyzer-core.NullDereference,-bugprone-sizeof-expression,\
-bugprone-misplaced-widening-cast

lint: lint-layout lint-cppcheck lint-clang-tidy

# the include graph points downwards only, no #include of a .c file (README "Layout")
lint-layout:
	scripts/check-layout.sh

lint-cppcheck:
	cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,portability \
		--inline-suppr --suppress=missingIncludeSystem -Iinclude \
		--suppress=unknownMacro --suppress=internalAstError --suppress=memleak $(LINT_SRC)

lint-clang-tidy:
	clang-tidy --quiet --warnings-as-errors='*' --checks='$(CLANG_TIDY_CHECKS)' $(LINT_SRC) \
		-- $(LINT_CFLAGS) 2>/dev/null

.PHONY: lint lint-layout lint-cppcheck lint-clang-tidy
