/* tools_common: shared by the queue tools (sandmail-mailq, -flush, -rm) */
#ifndef SANDMAIL_TOOLS_COMMON_H
#define SANDMAIL_TOOLS_COMMON_H

#include "send_srv.h"

struct tools {
	int		 qfd;
	const char	*hostname;
};

int	tools_open(int argc, char *argv[], struct tools *);
void	tools_conf(struct tools *, const char *cpath);
int	tools_rcpts(int qfd, const char *id, struct rcpt **v, size_t *n);

#endif
