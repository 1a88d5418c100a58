"""The small EnCodec-architecture codec: training and the quality report."""
