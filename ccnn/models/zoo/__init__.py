"""The wiring-cost model zoo: classifiers and RNNs whose wiring is shaped by a cost (issue 18)."""
