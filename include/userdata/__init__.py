"""A VM's user-data: metadata templates rendered under limits, the job's own parts, the cs_* variables,
assembled into one gzipped MIME multipart document."""
