"""What people look at: heatmap overlays, the HTML report, tables."""
