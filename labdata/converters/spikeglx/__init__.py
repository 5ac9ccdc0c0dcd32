"""SpikeGLX recordings: metadata, channel maps, compressed Zarr and digital events."""
