"""What the reports show: hexagon counts (aggregate), Gi* and kernel density (hotspots), time
(temporal), risky places, patrol windows, disruption before/after and the accuracy evaluation.

Layer 4 of the data flow: functions over frames; imports the layers below, never delivery or an
interface.
"""
