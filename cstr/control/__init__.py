"""Classical control and the episode runner: PI (randomised and tuned), nonlinear MPC, :func:`rollout`."""
