/*
 * link_check_main.c - the entry point of the role-boundary link checks
 * (CMakeLists.txt, orch_link_check_*): a role's library is linked whole
 * beside only the libraries it may use, so the program links only if no
 * object of that role names another role's symbol.  It is never run.
 */
int main(void)
{
	return 0;
}
