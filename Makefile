# Thin wrapper over CMake. The README's two commands:
#   make demo    build everything, run the main job on a built-in default, say where its output went
#   make test    build everything, run every test (C, CLI, Python) through ctest
# Other builds: make test BUILD=build-double CMAKE_FLAGS=-DVF_DOUBLE=ON
#               make test BUILD=build-asan   CMAKE_FLAGS="-DVF_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug"
BUILD       ?= build
CMAKE_FLAGS ?=
JOBS        ?= $(shell nproc 2>/dev/null || echo 2)
PREFIX      ?= /usr/local

.PHONY: all build demo test bench install uninstall clean api

all: build

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_FLAGS)

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	./$(BUILD)/varflow demo -o $(BUILD)/demo

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

bench: build
	./$(BUILD)/varflow bench engine

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

# Removes the files the last install from $(BUILD) wrote (its install_manifest.txt), then the folders of
# varflow's own that this leaves empty (include/varflow, lib/cmake/varflow); shared folders stay.
uninstall:
	@if [ -f $(BUILD)/install_manifest.txt ]; then \
	    tr '\n' '\0' < $(BUILD)/install_manifest.txt | xargs -0 rm -fv; \
	    sed -n 's|/[^/]*$$||p' $(BUILD)/install_manifest.txt | grep '/varflow$$' | sort -ru | \
	        tr '\n' '\0' | xargs -0 -r rmdir -v --ignore-fail-on-non-empty; \
	else echo "nothing to uninstall (no $(BUILD)/install_manifest.txt)"; fi

# docs/api.md, the C API reference, from the public headers (tests/cli/test_api_docs.sh checks it is current).
api:
	sh docs/gen_api.sh > docs/api.md.tmp && mv docs/api.md.tmp docs/api.md

clean:
	rm -rf $(BUILD)
