"""The CMU body-pose network (OpenPose's "Realtime Multi-Person Pose Estimation", Cao et al. 2017) as a pose backend:
network.py (the network and its weights), decode.py (heatmaps and PAFs -> people, on the device), track.py (the main
dancer across frames, COCO-18 -> BODY_25)."""
