"""MirrorMaker 2 on a Kafka Connect cluster, deployed and watched over REST."""
