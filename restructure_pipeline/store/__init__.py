"""Set-based reads and writes of the pipeline's tables: COPY in, one statement per step."""
