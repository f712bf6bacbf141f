# avhost — `make run` and `make test` are all a fresh Debian 12 machine needs.
GO        ?= go
BIN       := bin/avhost
PLUGIN    := build/plugin/libgstavhost.so
DEB_PKGS  := pkg-config gcc libglib2.0-dev libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev \
             gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
             gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav ffmpeg \
             python3-websockets python3-numpy python3-pip python3-setuptools chromium gstreamer1.0-rtsp iproute2 \
             libgstreamer-plugins-bad1.0-dev gstreamer1.0-nice nftables coturn
SUDO      := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export CGO_ENABLED := 1

.PHONY: help deps build plugin mediamtx pywebsockets check test bench soak fuzz lint run demo-file docs clean

help: ## this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-13s %s\n", $$1, $$2}'

deps: ## install GStreamer, ffmpeg and headers with apt-get when missing
	@if pkg-config --exists gstreamer-1.0 gstreamer-app-1.0 gstreamer-video-1.0 gstreamer-audio-1.0 gstreamer-webrtc-1.0 2>/dev/null \
	   && command -v gst-launch-1.0 >/dev/null && command -v ffprobe >/dev/null \
	   && gst-inspect-1.0 x264enc >/dev/null 2>&1 && gst-inspect-1.0 opusenc >/dev/null 2>&1 && gst-inspect-1.0 rtspclientsink >/dev/null 2>&1 \
	   && gst-inspect-1.0 nicesrc >/dev/null 2>&1 \
	   && /usr/bin/python3 -c "import websockets, numpy, setuptools" 2>/dev/null && /usr/bin/python3 -m pip --version >/dev/null 2>&1 && command -v chromium >/dev/null && command -v ip >/dev/null \
	   && command -v nft >/dev/null && command -v turnserver >/dev/null; then :; else \
	   echo "installing: $(DEB_PKGS)"; \
	   $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(DEB_PKGS); fi

build: deps ## build bin/avhost
	$(GO) build -o $(BIN) ./cmd/avhost

plugin: deps ## build the loadable plugin (GST_PLUGIN_PATH=build/plugin gst-inspect-1.0 singleframesrc)
	$(GO) build -buildmode=c-shared -o $(PLUGIN) ./plugin
	rm -f build/plugin/libgstavhost.h

check: ## go vet + unit tests (go test -short: no browser, netns or Python)
	$(GO) vet ./...
	@# internal/server first: its tests take the most wall time (waiting, not CPU), and
	@# listed last they start some 45 s late, behind packages that hold both -p slots.
	$(GO) test -short -count=1 -timeout 5m ./internal/server ./...

mediamtx: ## build MediaMTX v1.14.0 into build/mediamtx/ for the WHIP tests (cached)
	GO=$(GO) scripts/mediamtx.sh

pywebsockets: ## fetch Debian 13's python3-websockets 15 into build/ for the Python client test (cached)
	scripts/websockets15.sh

test: deps plugin mediamtx pywebsockets ## run all tests (real GStreamer, ffprobe, gst-launch-1.0, Chromium, netns, Python, MediaMTX)
	AVHOST_PLUGIN_DIR=$(CURDIR)/build/plugin $(GO) test -count=1 -timeout 15m ./...
	@# the stream bus under the race detector: readers, a slow one, switches, close
	$(GO) test -race -count=1 -timeout 5m ./internal/stream

bench: deps ## print throughput, allocation and CPU figures
	$(GO) test -run '^$$' -bench 'Inject|AudioChunk' -benchtime 3s -cpu 1 ./internal/player
	$(GO) test -run '^$$' -bench 'LiveSession' -benchtime 1x ./internal/player
	$(GO) test -run '^$$' -bench 'Sessions' -benchtime 1x -timeout 10m ./internal/session
	$(GO) test -run '^$$' -bench '^Benchmark(Viewers|RTSPReaders)$$' -benchtime 1x -timeout 10m ./internal/server
	$(GO) test -run '^$$' -bench '^BenchmarkSessionsWithViewers$$' -benchtime 1x -timeout 15m ./internal/server 2>&1 | grep -E 'sessions_bench|^Benchmark|^(ok|FAIL)'
	GO=$(GO) scripts/mediamtx.sh && $(GO) test -run '^$$' -bench 'MediaMTXReaders' -benchtime 1x -timeout 10m ./internal/server
	for k in 600 300; do AVHOST_LADDER_KBIT=$$k $(GO) test -count=1 -run '^TestLadderUnderABottleneck$$' -v -timeout 5m ./internal/server 2>&1 | grep -E 'ladder_netns|^(--- |ok|FAIL)'; done
	AVHOST_LOSS_SECONDS=60 $(GO) test -count=1 -run '^TestLossChromium$$' -v -timeout 10m ./internal/server 2>&1 | grep -E 'loss_netns|^(--- |ok|FAIL)'
	AVHOST_LOSS_SECONDS=60 AVHOST_LOSS_BACKEND=webrtcbin $(GO) test -count=1 -run '^TestLossChromium$$' -v -timeout 10m ./internal/server 2>&1 | grep -E 'loss_netns|^(--- |ok|FAIL)'
	@# media time → display in Chromium, avhost beside a reference Pion sender (issue 12)
	AVHOST_REF_SECONDS=60 $(GO) test -count=1 -run '^TestLatencyAgainstAReferenceSender$$' -v -timeout 5m ./internal/server 2>&1 | grep -E 'reflatency|^(--- |ok|FAIL)'
	for k in 600 300; do AVHOST_LADDER_CHROMIUM=1 AVHOST_LADDER_KBIT=$$k $(GO) test -count=1 -run '^TestLadderChromiumUnderABottleneck$$' -v -timeout 5m ./internal/server 2>&1 | grep -E 'ladder_netns|^(--- |ok|FAIL)'; done
	for k in 600 300; do AVHOST_LADDER_CHROMIUM=1 AVHOST_LADDER_BACKEND=webrtcbin AVHOST_LADDER_KBIT=$$k $(GO) test -count=1 -run '^TestLadderChromiumUnderABottleneck$$' -v -timeout 5m ./internal/server 2>&1 | grep -E 'ladder_webrtcbin|^(--- |ok|FAIL)'; done
	AVHOST_CHURN_SECONDS=60 $(GO) test -run '^$$' -bench 'Churn' -benchtime 1x -timeout 10m ./internal/server
	$(GO) build -o $(BIN) ./cmd/avhost && scripts/idle50k.sh
	AVHOST_PULSES=60 $(GO) test -count=1 -run 'LipSync|InterruptSilence' -v ./internal/server 2>&1 | grep -E 'offset|alignment|latency|silence|speech start|fine sync'
	AVHOST_CAPTIONS_GOAL=1 $(GO) test -count=1 -run '^TestCaptionsInChromium$$' -v ./internal/server 2>&1 | grep -E 'word shown|^(--- |ok|FAIL)'
	AVHOST_FLOOD_SECONDS=60 $(GO) test -count=1 -run '^TestFlood$$' -v -timeout 10m ./internal/server 2>&1 | grep -E 'flood_bench|^(--- |ok|FAIL)'
	AVHOST_RECORD_BENCH=1 $(GO) test -count=1 -run '^TestRecordBench$$' -v -timeout 10m ./internal/server 2>&1 | grep -E 'record_bench|^(--- |ok|FAIL)'

soak: deps ## create and tear down 500 720p sessions; RSS must stay flat
	AVHOST_SOAK=500 $(GO) test -count=1 -run Soak -v -timeout 20m ./internal/session

fuzz: deps ## run every fuzz target FUZZTIME each (default 5m): session config, ingest, WHEP, RTSP
	scripts/fuzz.sh

lint: ## go vet, staticcheck, go mod tidy -diff
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
	$(GO) mod tidy -diff

run: build ## start avhost serve with the demo avatar at http://localhost:8080/
	./$(BIN) serve

demo-file: build ## render a demo utterance to out/demo.mkv with avhost run
	mkdir -p out
	gst-launch-1.0 -q audiotestsrc num-buffers=150 samplesperbuffer=1600 freq=330 ! audio/x-raw,rate=48000 ! wavenc ! filesink location=out/demo-voice.wav
	gst-launch-1.0 -q videotestsrc num-buffers=125 pattern=ball ! video/x-raw,framerate=25/1,width=512,height=512 ! x264enc ! matroskamux ! filesink location=out/demo-face.mkv
	./$(BIN) run record --audio out/demo-voice.wav --frames out/demo-face.mkv --out out/demo.mkv

docs: build ## regenerate the element property tables in README.md
	./$(BIN) inspect > build/props.md
	awk 'BEGIN{p=1} /<!-- props:begin -->/{print; system("cat build/props.md"); p=0} /<!-- props:end -->/{p=1} p' README.md > build/README.md && mv build/README.md README.md

clean:
	rm -rf bin build out
