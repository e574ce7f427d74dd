"""Pose estimation: the backends (mediapipe, OpenPose) behind one table, and filling short gaps of keypoint tracks."""
