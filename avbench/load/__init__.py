"""Load scenarios of the measure phase: MLPerf LoadGen's SingleStream, Offline and Server
(``loadgen.py``, the SUT/QSL adapter), a closed-loop concurrency sweep, real-time SVC
streaming, and an HTTP client for OpenAI-compatible speech servers. LoadGen owns the
schedule, the timing, the percentiles and the VALID/INVALID verdict; these modules only
adapt a pipeline (or a server) to it and read its results back."""
