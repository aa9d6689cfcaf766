# Two commands do everything on a fresh Debian 12 machine: `make demo` and `make test`.
VENV := .venv
PY := $(VENV)/bin/python
export QT_QPA_PLATFORM := offscreen

.PHONY: demo test test-qgis340 test-qgis344 bench package system venv clean

system:
	@command -v qgis_process.bin >/dev/null && command -v xvfb-run >/dev/null && /usr/bin/python3 -c "import qgis.core, venv, matplotlib" 2>/dev/null || { \
	  echo "Installing QGIS from Debian (about 3 minutes)..."; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	    qgis python3-qgis qgis-providers python3-venv gdal-bin python3-gdal python3-matplotlib xvfb xauth >/dev/null; }

$(VENV)/.installed: requirements.txt constraints.txt | system
	/usr/bin/python3 -m venv --system-site-packages $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -c constraints.txt -r requirements.txt
	touch $@

venv: system $(VENV)/.installed

demo: venv
	$(PY) scripts/demo.py

test: venv
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q test

# The same suite on newer QGIS, each in a Debian chroot under build/ that the script sets up once (root needed).
test-qgis340:
	scripts/qgis_chroot.sh trixie

test-qgis344:
	scripts/qgis_chroot.sh sid

package:
	/usr/bin/python3 scripts/package.py

bench: venv
	$(PY) bench/bench_band_ratio.py --workdir build/bench
	$(PY) bench/bench_sam.py --workdir build/bench
	$(PY) bench/bench_tagging.py --workdir build/bench
	$(PY) bench/bench_kriging.py --skip-threaded  # pykrige with threaded BLAS: 2x slower than one thread here, 3 min
	$(PY) bench/bench_rf_predict.py --size 2000 --rounds 3 --skip numpy_kernel  # 4 Mpx; 25 Mpx alone would take most of 20 min

clean:
	rm -rf $(VENV) build .pytest_cache
