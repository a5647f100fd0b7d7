"""Load scenarios of the measure phase: MLPerf LoadGen's SingleStream, Offline and Server
(``loadgen.py``, the SUT/QSL adapter; ``verdict.py``, its detail log read back into
figures and a verdict; ``loadgen_scenario.py``, a test as the run's measurement), a
closed-loop concurrency sweep (``scenarios.py``), real-time SVC streaming, and a client
for OpenAI-compatible speech servers (``http.py``, ``http_client.py``,
``audio_probe.py``). Every scenario keeps its requests in ``requests.csv``
(``records.py``). LoadGen owns the schedule, the timing, the percentiles and its verdict;
these modules only adapt a pipeline (or a server) to it and read its results back."""
