"""Tests of the loopback Discord sandbox itself."""
