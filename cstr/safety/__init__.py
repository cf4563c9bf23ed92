"""The paper's contribution: a cost model convex in the action (PICNN) and the deployment-time correction."""
