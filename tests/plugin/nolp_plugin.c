/* nolp_plugin.c — a broken target plugin for tests/cli/test_vi.sh: it has varflow_target_dim but not
 * the required varflow_target_log_prob, so loading it must fail naming the missing symbol. */
int varflow_target_dim(void *state);

int varflow_target_dim(void *state)
{
    (void)state;
    return 2;
}
