# Thin wrapper over CMake/CTest. `make run` and `make test` install what they need first.
BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= $(shell nproc)
LISTEN ?= 127.0.0.1:8080
DATA ?= ./var

.PHONY: all deps build run test asan bench bench-srtp fmt clean

all: build

deps:
	@scripts/install-deps

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) -- --no-print-directory

run: build
	@scripts/run-server $(BUILD)/bin/dcalld --listen $(LISTEN) --data $(DATA)

test: build
	@ctest --test-dir $(BUILD) --output-on-failure -j 2 --timeout 600

asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DDCALL_ASAN=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS) -- --no-print-directory
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir $(ASAN_BUILD) --output-on-failure -j 2 -L 'unit|integration' --timeout 900

bench: build
	@node bench/run.mjs --build $(BUILD)

# SRTP ns/packet, Debian's (NSS) libsrtp2 vs the OpenSSL one install-deps builds (bench/README.md).
bench-srtp: build
	@node bench/run.mjs --build $(BUILD) --only srtp

fmt:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
