"""Screens pushed over the main one: the gate, help, and a row's detail."""
